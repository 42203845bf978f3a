//! Properties of the client frame parser, over generated input: it never panics,
//! refuses with a documented code and a well-formed error frame, and reads back
//! every valid frame exactly, whatever else the object carries.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use webchat_domain::{ChatId, PresenceStatus};

use super::{parse, ClientFrame, MAX_FRAME};

/// The JSON a client would send for `frame`.
fn encode(frame: &ClientFrame) -> Map<String, Value> {
    let value = match frame {
        ClientFrame::Join {
            chat_id,
            since_seq,
            since_pts,
        } => {
            let mut v = json!({"type": "join", "chat_id": chat_id.to_string()});
            if let Some(s) = since_seq {
                v["since_seq"] = json!(s);
            }
            if let Some(p) = since_pts {
                v["since_pts"] = json!(p);
            }
            v
        }
        ClientFrame::Leave { chat_id } => json!({"type": "leave", "chat_id": chat_id.to_string()}),
        ClientFrame::Send {
            chat_id,
            content,
            client_msg_id,
        } => {
            let mut v = json!({"type": "send", "chat_id": chat_id.to_string(), "content": content});
            if let Some(id) = client_msg_id {
                v["client_msg_id"] = json!(id);
            }
            v
        }
        ClientFrame::Typing { chat_id } => {
            json!({"type": "typing", "chat_id": chat_id.to_string()})
        }
        ClientFrame::Status { status } => json!({
            "type": "status",
            "status": if *status == PresenceStatus::Away { "away" } else { "online" },
        }),
        ClientFrame::Ping => json!({"type": "ping"}),
    };
    match value {
        Value::Object(map) => map,
        _ => unreachable!("frames are objects"),
    }
}

fn chat_id() -> impl Strategy<Value = ChatId> {
    any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string().parse().unwrap())
}

fn client_frame() -> impl Strategy<Value = ClientFrame> {
    prop_oneof![
        (chat_id(), any::<Option<i64>>(), any::<Option<i64>>()).prop_map(
            |(chat_id, since_seq, since_pts)| ClientFrame::Join {
                chat_id,
                since_seq,
                since_pts
            }
        ),
        chat_id().prop_map(|chat_id| ClientFrame::Leave { chat_id }),
        (chat_id(), any::<String>(), any::<Option<String>>()).prop_map(
            |(chat_id, content, client_msg_id)| ClientFrame::Send {
                chat_id,
                content,
                client_msg_id
            }
        ),
        chat_id().prop_map(|chat_id| ClientFrame::Typing { chat_id }),
        prop_oneof![Just(PresenceStatus::Online), Just(PresenceStatus::Away)]
            .prop_map(|status| ClientFrame::Status { status }),
        Just(ClientFrame::Ping),
    ]
}

/// Any JSON, biased towards the names and values frames use.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("type".to_owned()),
        Just("chat_id".to_owned()),
        Just("content".to_owned()),
        Just("since_seq".to_owned()),
        Just("since_pts".to_owned()),
        Just("status".to_owned()),
        Just("client_msg_id".to_owned()),
        "[a-z_]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        prop_oneof![
            Just("join"),
            Just("send"),
            Just("typing"),
            Just("status"),
            Just("ping"),
            Just("leave"),
            Just("online"),
            Just("away"),
        ]
        .prop_map(Value::from),
        chat_id().prop_map(|id| Value::from(id.to_string())),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// What every refusal must look like.
fn check_refusal(code: &str, rendered: &str) {
    assert!(
        ["bad_frame", "validation"].contains(&code),
        "undocumented code {code}"
    );
    let frame: Value = serde_json::from_str(rendered).expect("error frames are JSON");
    assert_eq!(frame["type"], "error");
    assert_eq!(frame["code"], code);
    assert!(frame["message"].as_str().is_some_and(|m| !m.is_empty()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_text_is_parsed_or_refused_with_a_documented_code(text in any::<String>()) {
        if let Err(e) = parse(&text) {
            check_refusal(e.code, &e.to_frame().render());
        }
    }

    #[test]
    fn any_json_is_parsed_consistently_or_refused(value in json_value()) {
        let text = value.to_string();
        match parse(&text) {
            // What was accepted reads back the same from its canonical form.
            Ok(frame) => {
                let again = Value::Object(encode(&frame)).to_string();
                prop_assert_eq!(parse(&again).expect("canonical form parses"), frame);
            }
            Err(e) => check_refusal(e.code, &e.to_frame().render()),
        }
    }

    #[test]
    fn valid_frames_read_back_exactly_whatever_else_they_carry(
        frame in client_frame(),
        extra in prop::collection::btree_map("x_[a-z]{1,6}", json_value(), 0..4),
    ) {
        let mut object = encode(&frame);
        object.extend(extra);
        let text = Value::Object(object).to_string();
        prop_assume!(text.len() <= MAX_FRAME);
        prop_assert_eq!(parse(&text).expect("a valid frame parses"), frame);
    }

    #[test]
    fn a_frame_missing_a_required_field_is_refused(frame in client_frame()) {
        let object = encode(&frame);
        for field in ["chat_id", "content", "status"] {
            if object.contains_key(field) {
                let mut cut = object.clone();
                cut.remove(field);
                let e = parse(&Value::Object(cut).to_string()).expect_err("incomplete");
                check_refusal(e.code, &e.to_frame().render());
            }
        }
    }
}
