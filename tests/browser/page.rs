//! One person's browser tab, driven through the page's `data-testid` hooks. Every
//! read that depends on the server waits (polls) for its condition with a timeout;
//! nothing sleeps for correctness.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

/// How long to wait for something the page should show.
pub const WAIT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);

pub struct Page {
    pub client: Client,
    pub who: String,
}

/// Polls `probe` until it yields a value, or fails after [`WAIT`] naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = probe().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {WAIT:?} waiting for {what}");
        }
        tokio::time::sleep(POLL).await;
    }
}

fn by_testid(id: &str) -> String {
    format!("[data-testid=\"{id}\"]")
}

impl Page {
    pub fn new(client: Client, who: &str) -> Self {
        Self {
            client,
            who: who.to_owned(),
        }
    }

    pub async fn open(&self, url: &str) -> Result<()> {
        self.client.goto(url).await.context("goto")?;
        Ok(())
    }

    /// The first element with `data-testid=id`, once it is displayed.
    pub async fn testid(&self, id: &str) -> Result<Element> {
        self.displayed(Locator::Css(&by_testid(id)), id).await
    }

    async fn displayed(&self, locator: Locator<'_>, what: &str) -> Result<Element> {
        let what = format!("{}: {what}", self.who);
        eventually(&what, || async {
            match self.client.find(locator).await {
                Ok(el) if el.is_displayed().await.unwrap_or(false) => Ok(Some(el)),
                _ => Ok(None),
            }
        })
        .await
    }

    pub async fn fill(&self, id: &str, text: &str) -> Result<()> {
        let el = self.testid(id).await?;
        el.clear().await.with_context(|| format!("clear {id}"))?;
        el.send_keys(text)
            .await
            .with_context(|| format!("type into {id}"))?;
        Ok(())
    }

    pub async fn click(&self, id: &str) -> Result<()> {
        self.testid(id)
            .await?
            .click()
            .await
            .with_context(|| format!("{}: click {id}", self.who))?;
        Ok(())
    }

    /// One more keystroke that leaves the text as it was (a space, then backspace).
    pub async fn keep_typing(&self, id: &str) -> Result<()> {
        let keys = format!(" {}", char::from(Key::Backspace));
        self.testid(id).await?.send_keys(&keys).await?;
        Ok(())
    }

    pub async fn press_enter(&self, id: &str) -> Result<()> {
        let enter = char::from(Key::Enter).to_string();
        self.testid(id).await?.send_keys(&enter).await?;
        Ok(())
    }

    /// The visible text of every element with `data-testid=id`, in page order.
    pub async fn texts(&self, id: &str) -> Result<Vec<String>> {
        let v = self
            .client
            .execute(
                "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText.trim());",
                vec![json!(by_testid(id))],
            )
            .await
            .context("read texts")?;
        serde_json::from_value(v).map_err(|e| anyhow!("texts of {id}: {e}"))
    }

    /// Waits until an element with `data-testid=id` shows `text`.
    pub async fn wait_text(&self, id: &str, text: &str) -> Result<()> {
        let what = format!("{}: a {id} showing {text:?}", self.who);
        eventually(&what, || async {
            let texts = self.texts(id).await?;
            Ok(texts.iter().any(|t| t.contains(text)).then_some(()))
        })
        .await
    }

    /// Waits until no element with `data-testid=id` shows `text`.
    pub async fn wait_gone(&self, id: &str, text: &str) -> Result<()> {
        let what = format!("{}: no {id} showing {text:?}", self.who);
        eventually(&what, || async {
            let texts = self.texts(id).await?;
            Ok((!texts.iter().any(|t| t.contains(text))).then_some(()))
        })
        .await
    }

    /// The texts of the open chat's messages (`message-text`), oldest first.
    pub async fn messages(&self) -> Result<Vec<String>> {
        self.texts("message-text").await
    }

    /// Waits until the open chat shows exactly `expected`, in this order.
    pub async fn wait_messages(&self, expected: &[&str]) -> Result<()> {
        let what = format!("{}: messages {expected:?}", self.who);
        let last = std::cell::RefCell::new(Vec::new());
        let found = eventually(&what, || async {
            let seen = self.messages().await?;
            let done = seen == expected;
            *last.borrow_mut() = seen;
            Ok(done.then_some(()))
        })
        .await;
        found.with_context(|| format!("last seen: {:?}", last.borrow()))
    }

    /// Clicks what `locator` finds once it can be clicked. Lists re-render as events
    /// arrive, so an element that went stale between finding and clicking is looked
    /// up again.
    async fn click_on(&self, locator: Locator<'_>, what: &str) -> Result<()> {
        let what = format!("{}: click {what}", self.who);
        eventually(&what, || async {
            match self.client.find(locator).await {
                Ok(el) => Ok(el.click().await.is_ok().then_some(())),
                Err(_) => Ok(None),
            }
        })
        .await
    }

    /// Clicks the chat named `name` in the chat list, once it is there.
    pub async fn open_chat(&self, name: &str) -> Result<()> {
        let xpath = chat_item_xpath(name);
        self.click_on(Locator::XPath(&xpath), &format!("chat-item {name:?}"))
            .await?;
        self.wait_text("chat-title", name).await
    }

    pub async fn chat_item(&self, name: &str) -> Result<Element> {
        let xpath = chat_item_xpath(name);
        self.displayed(Locator::XPath(&xpath), &format!("chat-item {name:?}"))
            .await
    }

    /// The unread badge of the chat named `name` (0 without one).
    pub async fn unread(&self, name: &str) -> Result<u32> {
        let item = self.chat_item(name).await?;
        match item.find(Locator::Css(&by_testid("chat-unread"))).await {
            Ok(badge) => Ok(badge.text().await?.trim().parse()?),
            Err(_) => Ok(0),
        }
    }

    /// Clicks a button (`message-edit`, `message-delete`) of the message showing `text`.
    pub async fn click_message_button(&self, text: &str, button: &str) -> Result<()> {
        let xpath = format!(
            "//*[@data-testid='message'][.//*[@data-testid='message-text'][normalize-space()=\"{text}\"]]//*[@data-testid='{button}']"
        );
        self.click_on(Locator::XPath(&xpath), &format!("{button} of {text:?}"))
            .await
    }

    /// The presence shown next to the member named `name` in the chat header.
    pub async fn member_presence(&self, name: &str) -> Result<Option<String>> {
        let v: Value = self
            .client
            .execute(
                "const m = [...document.querySelectorAll('[data-testid=\"chat-member\"]')]
                   .find(e => e.innerText.trim() === arguments[0]);
                 const dot = m && m.querySelector('[data-testid=\"presence-dot\"]');
                 return dot ? dot.dataset.status : null;",
                vec![json!(name)],
            )
            .await?;
        Ok(v.as_str().map(str::to_owned))
    }

    /// Scrolls the open chat's messages to the top, as a reader going back would.
    pub async fn scroll_messages_to_top(&self) -> Result<()> {
        self.client
            .execute(
                "document.querySelector('[data-testid=\"message-list\"]').scrollTop = 0;",
                vec![],
            )
            .await?;
        Ok(())
    }

    /// The logged-in user's id, as the page keeps it.
    pub async fn user_id(&self) -> Result<String> {
        let v = self
            .client
            .execute(
                "return JSON.parse(localStorage.getItem('webchat.auth')).user.id;",
                vec![],
            )
            .await?;
        v.as_str().map(str::to_owned).context("no user id")
    }

    /// Replaces the stored access token with one the server refuses (as an expired
    /// one would be), leaving the refresh token.
    pub async fn spoil_access_token(&self) -> Result<()> {
        self.client
            .execute(
                "const auth = JSON.parse(localStorage.getItem('webchat.auth'));
                 auth.access_token = 'not-a-valid-token';
                 localStorage.setItem('webchat.auth', JSON.stringify(auth));",
                vec![],
            )
            .await?;
        Ok(())
    }

    /// The id of the chat named `name` in the chat list.
    pub async fn chat_id(&self, name: &str) -> Result<String> {
        let item = self.chat_item(name).await?;
        item.attr("data-chat-id").await?.context("no data-chat-id")
    }

    /// What the page shows, for failure reports.
    pub async fn describe(&self) -> String {
        let text = self
            .client
            .execute("return document.body.innerText;", vec![])
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "<unreadable>".into());
        format!("--- {} sees:\n{text}\n", self.who)
    }
}

fn chat_item_xpath(name: &str) -> String {
    format!(
        "//*[@data-testid='chat-item'][.//*[@data-testid='chat-name'][normalize-space()=\"{name}\"]]"
    )
}
