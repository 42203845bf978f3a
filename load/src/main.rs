//! webchat-load: a load driver for webchat (scenarios arrive in the next commits).

fn main() {
    eprintln!("webchat-load: no scenario yet");
    std::process::exit(2);
}
