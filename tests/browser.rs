//! The web client in real headless Chromium (Debian's `chromium` + `chromium-driver`),
//! driven over WebDriver: two people sign up in two browsers, one starts a chat with
//! the other, the chat and the messages appear live on both sides (with unread
//! counts, presence, typing, edits and deletes), and a reload shows the history.
//! Then the server restarts: both pages reconnect and catch up by themselves, and a
//! message written while offline goes out. Last, a long chat pages in as one scrolls
//! up, logout / login work, and the client's chat list follows the server's pages.
//! Saves `docs/screenshot.png` of one browser mid-conversation.
//!
//! Without Chromium or chromedriver the test prints `skipped: ...` and passes, unless
//! `WEBCHAT_REQUIRE_SERVICES=1`.

mod common;
#[path = "browser/driver.rs"]
mod driver;
#[path = "browser/page.rs"]
mod page;
#[path = "browser/server.rs"]
mod server;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Context, Result};
use common::TestServer;
use driver::ChromeDriver;
use page::{eventually, Page};
use server::Restarted;
use tokio::time::timeout;
use webchat::usecase::UseCases;
use webchat_ports::contract::skip_or_fail;

const PASSWORD: &str = "correct-horse-1";
const CHAT: &str = "Weekend hike";
const SCENARIO_LIMIT: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_chat_live_in_two_browsers() {
    let started = Instant::now();
    let chrome = match ChromeDriver::start().await {
        Ok(driver) => driver,
        Err(why) => return skip_or_fail("chromium", why),
    };
    let (a, b) = match tokio::try_join!(chrome.browser(), chrome.browser()) {
        Ok(pair) => pair,
        Err(why) => return skip_or_fail("chromium", why),
    };
    let server = TestServer::memory().await;
    let alice = Page::new(a, "alice");
    let bob = Page::new(b, "bob");

    // A WebDriver command never answering (a crashed renderer) must not hang the suite.
    let outcome = match timeout(SCENARIO_LIMIT, run(server, &alice, &bob)).await {
        Ok(outcome) => outcome,
        Err(_) => {
            let e = anyhow!("the scenario took over {SCENARIO_LIMIT:?}");
            let _ = timeout(Duration::from_secs(30), report_failure(&e, &[&alice, &bob])).await;
            Err(e)
        }
    };
    for page in [alice, bob] {
        let _ = timeout(Duration::from_secs(10), page.client.close()).await;
    }
    drop(chrome); // kills chromedriver and its browsers, removes the profiles
    outcome.expect("browser scenario");
    println!("browser scenario passed in {:.1?}", started.elapsed());
}

/// Runs the steps; a failure is reported while the server is still up, so the
/// report shows what the pages showed when it happened.
async fn run(server: TestServer, alice: &Page, bob: &Page) -> Result<()> {
    let mut first = Some(server);
    let mut restarted = None;
    let outcome = steps(&mut first, &mut restarted, alice, bob).await;
    if let Err(e) = &outcome {
        let _ = timeout(Duration::from_secs(30), report_failure(e, &[alice, bob])).await;
    }
    if let Some(server) = first {
        server.stop().await;
    }
    if let Some(server) = restarted {
        server.stop().await;
    }
    outcome
}

async fn steps(
    first: &mut Option<TestServer>,
    restarted: &mut Option<Restarted>,
    alice: &Page,
    bob: &Page,
) -> Result<()> {
    let server = first.as_ref().context("the first server")?;
    let history = conversation(server, alice, bob).await?;
    let (addr, app) = (server.addr, server.app.clone());
    if let Some(server) = first.take() {
        server.stop().await;
    }
    recovery(addr, app.clone(), alice, bob, &history, restarted).await?;
    paging(&app, alice, bob).await?;

    // Logging out goes back to the login form and forgets the session; logging in
    // again (after a wrong password) brings the chats back.
    alice.click("logout").await?;
    alice.testid("login-username").await?;
    alice.client.refresh().await?;
    alice.fill("login-username", "alice").await?;
    alice.fill("login-password", "not-the-password").await?;
    alice.click("login-submit").await?;
    alice
        .wait_text("login-error", "Wrong username or password")
        .await?;
    alice.fill("login-password", PASSWORD).await?;
    alice.click("login-submit").await?;
    alice.chat_item(CHAT).await?;
    chat_list_pages(&app, alice).await
}

/// The client's chat list follows `GET /api/chats` page by page: for someone in
/// more chats than one page holds, `Api.chats()` (what the page loads its list
/// with) returns every chat once. Run as a third user, from alice's page, so
/// neither open page gets hundreds of `chat.joined` frames.
async fn chat_list_pages(app: &UseCases, page: &Page) -> Result<()> {
    const CHATS: usize = 205; // the client asks for pages of 200
    app.auth
        .register("carol", PASSWORD, None)
        .await
        .map_err(|e| anyhow!("register carol: {e:?}"))?;
    let carol = app
        .auth
        .login(
            "carol",
            PASSWORD,
            webchat::usecase::auth::ClientInfo {
                ip: None,
                user_agent: None,
            },
        )
        .await
        .map_err(|e| anyhow!("log carol in: {e:?}"))?;
    let mut expected = Vec::with_capacity(CHATS);
    for i in 0..CHATS {
        let view = app
            .chats
            .create(carol.user.id, &format!("Bulk {i}"), &[])
            .await
            .map_err(|e| anyhow!("create a chat: {e:?}"))?;
        expected.push(view.chat.id.to_string());
    }
    expected.sort();
    let listed = page
        .client
        .execute_async(
            "const [token, done] = arguments;
             import('/web/api.js')
               .then(async ({ Api }) => {
                 const api = new Api({ onExpired() {} });
                 api.auth = { access_token: token };
                 done((await api.chats()).map((c) => c.id));
               })
               .catch((e) => done(String(e)));",
            vec![serde_json::Value::from(carol.access_token)],
        )
        .await?;
    let ids: Vec<String> = serde_json::from_value(listed.clone())
        .with_context(|| format!("Api.chats() answered {listed}"))?;
    ensure!(
        ids == expected,
        "Api.chats() listed {} chats, expected {CHATS} in id order",
        ids.len()
    );
    Ok(())
}

/// Sign-up, a new chat, messages both ways, typing, presence, edit, delete, reload.
/// Returns the conversation as both now show it.
async fn conversation(server: &TestServer, alice: &Page, bob: &Page) -> Result<Vec<&'static str>> {
    let home = server.url("/");
    tokio::try_join!(sign_up(alice, &home), sign_up(bob, &home))?;

    // Members are usernames; an unknown one is named, and no chat is made.
    alice.fill("chat-new-name", CHAT).await?;
    alice.fill("chat-new-members", "bob, nobody").await?;
    alice.click("chat-new-submit").await?;
    alice
        .wait_text("chat-new-error", "No such user: nobody")
        .await?;

    // Alice starts a chat with Bob; it shows up in Bob's list without a reload.
    alice.fill("chat-new-members", "Bob").await?; // usernames match in any case
    alice.click("chat-new-submit").await?;
    alice.wait_text("chat-title", CHAT).await?;
    bob.chat_item(CHAT).await.context("the chat appears live")?;

    // A message sent with Enter; Bob, not in the chat yet, sees it counted as unread.
    let m1 = "Hi Bob! Up for a hike on Saturday?";
    alice.fill("message-input", m1).await?;
    alice.press_enter("message-input").await?;
    alice.wait_messages(&[m1]).await?;
    eventually("bob: one unread message", || async {
        Ok((bob.unread(CHAT).await? == 1).then_some(()))
    })
    .await?;
    bob.open_chat(CHAT).await?;
    bob.wait_messages(&[m1]).await?;
    eventually("bob: the unread badge clears", || async {
        Ok((bob.unread(CHAT).await? == 0).then_some(()))
    })
    .await?;

    // Presence and typing, then a reply the other way.
    eventually("alice: bob shows online", || async {
        Ok((alice.member_presence("bob").await?.as_deref() == Some("online")).then_some(()))
    })
    .await?;
    let m2 = "Sure! Where do we meet?";
    bob.fill("message-input", m2).await?;
    typing_shows(bob, alice).await?;
    bob.click("message-send").await?;
    alice.wait_messages(&[m1, m2]).await?;
    alice.wait_gone("typing-indicator", "bob").await?;

    let m3 = "At the trailhead, 8 am. I'll bring coffee.";
    alice.fill("message-input", m3).await?;
    alice.click("message-send").await?;
    bob.wait_messages(&[m1, m2, m3]).await?;

    // Alice edits her message; Bob sees the new text live.
    let m3_edited = "At the trailhead, 9 am. I'll bring coffee.";
    alice.click_message_button(m3, "message-edit").await?;
    alice.fill("message-edit-input", m3_edited).await?;
    alice.press_enter("message-edit-input").await?;
    bob.wait_messages(&[m1, m2, m3_edited]).await?;

    // Bob deletes a message (two clicks: delete, confirm); it goes away for Alice too.
    let oops = "oops, wrong chat";
    bob.fill("message-input", oops).await?;
    bob.press_enter("message-input").await?;
    alice.wait_messages(&[m1, m2, m3_edited, oops]).await?;
    bob.click_message_button(oops, "message-delete").await?;
    bob.wait_text("message-delete", "Really delete?").await?;
    bob.click_message_button(oops, "message-delete").await?;
    alice.wait_messages(&[m1, m2, m3_edited]).await?;

    // Mid-conversation, with Bob typing: the README's screenshot.
    let m4 = "Perfect, see you there!";
    bob.fill("message-input", m4).await?;
    typing_shows(bob, alice).await?;
    save_screenshot(alice).await?;
    bob.press_enter("message-input").await?;
    alice.wait_messages(&[m1, m2, m3_edited, m4]).await?;

    // A reload shows the history (from REST), with nothing left unread; Bob's access
    // token has gone bad meanwhile, so the page renews it with the refresh token.
    bob.spoil_access_token().await?;
    bob.client.refresh().await?;
    // The list shows the newest message once the chat's newest seq is known...
    bob.wait_text("chat-item", m4).await?;
    // ...and everything up to it was read before the reload.
    ensure!(bob.unread(CHAT).await? == 0, "bob: unread after reload");
    bob.open_chat(CHAT).await?;
    bob.wait_messages(&[m1, m2, m3_edited, m4]).await?;
    Ok(vec![m1, m2, m3_edited, m4])
}

/// The server goes away and comes back: both browsers reconnect by themselves,
/// recover what was stored meanwhile (`join` + `since_seq`), and a message Alice
/// wrote while offline goes out once the connection is back.
async fn recovery(
    addr: SocketAddr,
    app: UseCases,
    alice: &Page,
    bob: &Page,
    history: &[&'static str],
    restarted: &mut Option<Restarted>,
) -> Result<()> {
    alice.wait_text("connection-status", "Offline").await?;
    let offline = "Home safe. Same time next week?";
    alice.fill("message-input", offline).await?;
    alice.press_enter("message-input").await?;
    alice.wait_text("message", "will retry").await?;

    // Stored while no socket listens, as if sent through another instance.
    let stored = "Sure, count me in.";
    let bob_id = parse_id(&bob.user_id().await?)?;
    let chat_id = parse_id(&alice.chat_id(CHAT).await?)?;
    app.messages
        .send(bob_id, chat_id, stored, None)
        .await
        .map_err(|e| anyhow!("store a message: {e:?}"))?;

    *restarted = Some(Restarted::start(addr, app).await?);
    let expected: Vec<&str> = history.iter().copied().chain([stored, offline]).collect();
    bob.wait_messages(&expected).await?;
    alice.wait_messages(&expected).await?;
    alice.wait_gone("message", "will retry").await?;
    alice.wait_gone("message", "sending").await?;
    alice.wait_gone("connection-status", "Offline").await?;
    Ok(())
}

async fn sign_up(page: &Page, home: &str) -> Result<()> {
    page.open(home).await?;
    page.fill("login-username", &page.who).await?;
    page.fill("login-password", PASSWORD).await?;
    page.click("register-submit").await?;
    page.testid("chat-new-name")
        .await
        .with_context(|| format!("{} is logged in", page.who))?;
    Ok(())
}

/// A long chat: the newest page first, older pages as Bob scrolls up, oldest on top.
async fn paging(app: &UseCases, alice: &Page, bob: &Page) -> Result<()> {
    const TOTAL: usize = 120; // three pages of history
    let alice_id = parse_id(&alice.user_id().await?)?;
    let bob_id = parse_id(&bob.user_id().await?)?;
    let chat = app
        .chats
        .create(alice_id, "Archive", &[bob_id])
        .await
        .map_err(|e| anyhow!("create a chat: {e:?}"))?;
    for i in 1..=TOTAL {
        app.messages
            .send(
                alice_id,
                chat.chat.id,
                &format!("archived message {i}"),
                None,
            )
            .await
            .map_err(|e| anyhow!("store a message: {e:?}"))?;
    }
    bob.open_chat("Archive").await?;
    bob.wait_text("message-text", &format!("archived message {TOTAL}"))
        .await?;
    let first_page = bob.messages().await?.len();
    ensure!(first_page < TOTAL, "bob: the whole chat came at once");
    let all = eventually("bob: every page after scrolling up", || async {
        let shown = bob.messages().await?;
        if shown.len() == TOTAL {
            return Ok(Some(shown));
        }
        bob.scroll_messages_to_top().await?;
        Ok(None)
    })
    .await?;
    let expected: Vec<String> = (1..=TOTAL)
        .map(|i| format!("archived message {i}"))
        .collect();
    ensure!(all == expected, "bob: history out of order: {all:?}");
    bob.wait_text("message-list", "This is the beginning of the chat.")
        .await?;
    alice.wait_text("chat-item", "archived message 120").await
}

fn parse_id<T: std::str::FromStr>(id: &str) -> Result<T>
where
    T::Err: std::fmt::Debug,
{
    id.parse().map_err(|e| anyhow!("id {id:?}: {e:?}"))
}

/// `typist` keeps typing until `watcher` shows it (typing frames go out at most
/// every 2 s, so a keystroke right after a send may not be announced).
async fn typing_shows(typist: &Page, watcher: &Page) -> Result<()> {
    let expected = format!("{} is typing", typist.who);
    eventually(&format!("{}: {expected:?}", watcher.who), || async {
        let shown = watcher.texts("typing-indicator").await?;
        if shown.iter().any(|t| t.contains(&expected)) {
            return Ok(Some(()));
        }
        typist.keep_typing("message-input").await?;
        Ok(None)
    })
    .await
}

async fn save_screenshot(page: &Page) -> Result<()> {
    let png = page.client.screenshot().await.context("screenshot")?;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshot.png");
    std::fs::write(&path, png).with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

/// Prints what each browser shows and keeps their screenshots next to the build.
async fn report_failure(e: &anyhow::Error, pages: &[&Page]) {
    eprintln!("browser scenario failed: {e:#}");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    for page in pages {
        eprintln!("{}", page.describe().await);
        if let Ok(png) = page.client.screenshot().await {
            let path = dir.join(format!("browser-failure-{}.png", page.who));
            if std::fs::write(&path, png).is_ok() {
                eprintln!("screenshot: {}", path.display());
            }
        }
    }
}
