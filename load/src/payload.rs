//! What a fan-out message carries in its content, so that every receiver can
//! attribute it and time it without any shared state:
//!
//! `r<run> t<send ns> s<sender> n<number> w<0|1>[ p<padding>]`
//!
//! Plain ASCII with no quote or backslash: inside the JSON frame it needs no
//! escaping, so the receiver's frame parser can borrow it instead of copying, and
//! parsing it is a few splits. (load.js puts JSON in the content; the fields are the
//! same: run id, send time on the driver's monotonic clock, sender, message number,
//! and whether it is warm-up traffic.)

use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    /// send time, ns since the tool started
    pub t: u64,
    /// sending connection's index
    pub s: u32,
    /// message number in the run
    pub n: u64,
    /// warm-up traffic: keeps order tracking right, counted nowhere else
    pub warm: bool,
}

pub fn encode(out: &mut String, run: &str, p: &Payload, pad: &str) {
    out.clear();
    let _ = write!(
        out,
        "r{run} t{} s{} n{} w{}",
        p.t,
        p.s,
        p.n,
        u8::from(p.warm)
    );
    if !pad.is_empty() {
        out.push_str(" p");
        out.push_str(pad);
    }
}

/// Why content is not one of this run's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotOurs {
    /// well-formed but from another run (a stale socket, another driver)
    OtherRun,
    /// not in this format at all
    Malformed,
}

pub fn decode(content: &str, run: &str) -> Result<Payload, NotOurs> {
    let mut parts = content.split(' ');
    let r = parts.next().and_then(|p| p.strip_prefix('r'));
    match r {
        Some(r) if r == run => {}
        Some(_) => return Err(NotOurs::OtherRun),
        None => return Err(NotOurs::Malformed),
    }
    let mut field = |tag: char| -> Result<u64, NotOurs> {
        parts
            .next()
            .and_then(|p| p.strip_prefix(tag))
            .and_then(|v| v.parse().ok())
            .ok_or(NotOurs::Malformed)
    };
    let t = field('t')?;
    let s = field('s')?;
    let n = field('n')?;
    let w = field('w')?;
    Ok(Payload {
        t,
        s: s as u32,
        n,
        warm: w != 0,
    })
}

/// The id a send carries; acks and error frames echo it back.
pub fn client_msg_id(out: &mut String, run: &str, n: u64) {
    out.clear();
    let _ = write!(out, "{run}-{n}");
}

/// The message number in a client_msg_id of this run.
pub fn msg_no(client_msg_id: &str, run: &str) -> Option<u64> {
    client_msg_id
        .strip_prefix(run)?
        .strip_prefix('-')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let p = Payload {
            t: 123_456_789,
            s: 42,
            n: 7,
            warm: true,
        };
        let mut s = String::new();
        encode(&mut s, "abc", &p, "xxxx");
        assert_eq!(s, "rabc t123456789 s42 n7 w1 pxxxx");
        assert_eq!(decode(&s, "abc"), Ok(p));
        encode(&mut s, "abc", &Payload { warm: false, ..p }, "");
        assert!(!decode(&s, "abc").unwrap().warm);
    }

    #[test]
    fn refuses_other_runs_and_garbage() {
        assert_eq!(decode("rzzz t1 s1 n1 w0", "abc"), Err(NotOurs::OtherRun));
        assert_eq!(decode("hello", "abc"), Err(NotOurs::Malformed));
        assert_eq!(decode("", "abc"), Err(NotOurs::Malformed));
        assert_eq!(decode("rabc t1 s1", "abc"), Err(NotOurs::Malformed));
        assert_eq!(decode("rabc tX s1 n1 w0", "abc"), Err(NotOurs::Malformed));
    }

    #[test]
    fn client_msg_ids() {
        let mut s = String::new();
        client_msg_id(&mut s, "abc", 99);
        assert_eq!(s, "abc-99");
        assert_eq!(msg_no(&s, "abc"), Some(99));
        assert_eq!(msg_no("zzz-99", "abc"), None);
    }
}
