//! Limits the use cases enforce, described in the OpenAPI document without being
//! enforced a second time by the framework.
//!
//! A field declared `Lenient<T>` with `#[oai(validator(...))]` gets the validator's
//! `maxLength`, `pattern`, `maximum`, ... in its schema, but the framework never
//! checks them: [`Lenient`] shows the validators no value to check. The use case
//! enforces the limit as before, so a value outside it is still answered with 400
//! `validation` and a message naming the field (a framework validator would answer
//! `bad_request` with its own message). Each schema must say exactly what the use
//! case accepts: the patterns in dto.rs spell out "1..N characters after trimming,
//! no control characters" with the whitespace `str::trim` removes and the control
//! characters `char::is_control` names.
//!
//! Unlike the framework's `String`, which takes a JSON number or boolean and turns
//! it into text, a `Lenient<String>` takes JSON strings only: `{"content": false}`
//! is a 400 `bad_request`, not a message reading "false".

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use serde_json::Value;

/// A value whose limits are documented (by the validators on its field) and
/// enforced by the use case, not by the framework.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lenient<T>(pub T);

impl<T> Lenient<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl Lenient<String> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<T: Type> Type for Lenient<T> {
    const IS_REQUIRED: bool = T::IS_REQUIRED;

    type RawValueType = T::RawValueType;

    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        T::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    /// Nothing for a validator to check: the use case does.
    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        None
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(std::iter::empty())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn is_none(&self) -> bool {
        self.0.is_none()
    }
}

impl<T: ParseFromJSON> ParseFromJSON for Lenient<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        if let (Some(value), MetaSchemaRef::Inline(schema)) = (&value, T::schema_ref()) {
            if schema.ty == "string" && !value.is_string() {
                return Err(ParseError::expected_type(value.clone()));
            }
        }
        T::parse_from_json(value)
            .map(Self)
            .map_err(|e| e.propagate())
    }
}

impl<T: ParseFromParameter> ParseFromParameter for Lenient<T> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        T::parse_from_parameter(value)
            .map(Self)
            .map_err(|e| e.propagate())
    }
}

impl<T: ToJSON> ToJSON for Lenient<T> {
    fn to_json(&self) -> Option<Value> {
        self.0.to_json()
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::Object;
    use regex::Regex;

    use super::*;

    #[derive(Debug, Object)]
    struct Probe {
        #[oai(validator(max_length = 3, pattern = r"^a+$"))]
        name: Lenient<String>,
        #[oai(validator(max_items = 1))]
        #[oai(default)]
        ids: Lenient<Vec<u32>>,
    }

    #[test]
    fn limits_are_documented_but_not_enforced() {
        let parsed = Probe::parse_from_json(Some(serde_json::json!({
            "name": "bbbbbb",
            "ids": [1, 2, 3],
        })))
        .expect("the framework leaves the limits to the use case");
        assert_eq!(parsed.name.as_str(), "bbbbbb");
        assert_eq!(parsed.ids.0, vec![1, 2, 3]);

        let mut registry = Registry::new();
        Probe::register(&mut registry);
        let schema = &registry.schemas["Probe"];
        let field = |name: &str| {
            let (_, schema) = schema
                .properties
                .iter()
                .find(|(n, _)| *n == name)
                .expect("field in schema");
            serde_json::to_value(schema).unwrap()
        };
        assert_eq!(field("name")["maxLength"], 3);
        assert_eq!(field("name")["pattern"], "^a+$");
        assert_eq!(field("ids")["maxItems"], 1);
    }

    #[test]
    fn strings_are_json_strings_only() {
        for value in [
            serde_json::json!(false),
            serde_json::json!(5),
            serde_json::json!([]),
        ] {
            assert!(
                Lenient::<String>::parse_from_json(Some(value.clone())).is_err(),
                "{value}"
            );
        }
        let text = Lenient::<String>::parse_from_json(Some(serde_json::json!("5"))).unwrap();
        assert_eq!(text.as_str(), "5");
        let absent = Option::<Lenient<String>>::parse_from_json(Some(Value::Null)).unwrap();
        assert_eq!(absent, None);
    }

    /// The schema's patterns accept exactly what the domain's newtypes accept.
    #[test]
    fn documented_patterns_match_the_use_cases_rules() {
        use webchat_domain::{
            ChatName, ClientMsgId, DisplayName, MessageContent, Password, Username,
        };

        let app = crate::app::App::in_memory(&crate::config::Config::for_tests());
        let spec: Value = serde_json::from_str(&crate::http::openapi_json(&app.usecases)).unwrap();
        let pattern = |schema: &str, field: &str| {
            let source = spec["components"]["schemas"][schema]["properties"][field]["pattern"]
                .as_str()
                .unwrap_or_else(|| panic!("{schema}.{field} has a pattern"));
            Regex::new(source).unwrap()
        };
        let samples: Vec<String> = vec![
            String::new(),
            " ".into(),
            "a".into(),
            "ab".into(),
            "abc".into(),
            " a ".into(),
            "a b".into(),
            "\u{3000}x\u{2029}".into(),
            "\u{1c}".into(),
            "\u{200b}".into(),
            "x\n".into(),
            "\t\n\r".into(),
            "é".into(),
            "ok_name.v-2".into(),
            "a".repeat(32),
            "a".repeat(33),
            "a".repeat(64),
            "a".repeat(65),
            format!(" {} ", "a".repeat(64)),
            "n".repeat(100),
            "n".repeat(101),
            format!("\n{}\n", "n".repeat(100)),
            "é".repeat(4000),
            "é".repeat(4001),
            format!("  {}\t", "c".repeat(4000)),
            format!("a{}b", " ".repeat(3998)),
            format!("a{}b", " ".repeat(3999)),
            "a\u{0}b".into(),
            "\u{0}".into(),
            "general\u{0}".into(),
            "a\tb".into(),
            "a\nb".into(),
            "a\rb".into(),
            "a\r\nb".into(),
            "ab\n".into(),
            "\tab".into(),
            "a\u{b}b".into(),
            "a\u{1f}b".into(),
            "a\u{7f}b".into(),
            "a\u{85}b".into(),
            "a\u{9f}b".into(),
            "\u{85}abc".into(),
            "\u{a0}abc\u{a0}".into(),
            "pass\u{0}word".into(),
            "password\t1".into(),
            "pass word é".into(),
            "x".repeat(8),
            "x".repeat(128),
            "x".repeat(129),
        ];
        type Rule = fn(&str) -> bool;
        let cases: [(&str, &str, Rule); 7] = [
            ("SendMessageRequest", "content", |s| {
                MessageContent::parse(s).is_ok()
            }),
            ("EditMessageRequest", "content", |s| {
                MessageContent::parse(s).is_ok()
            }),
            ("CreateChatRequest", "name", |s| ChatName::parse(s).is_ok()),
            ("RegisterRequest", "display_name", |s| {
                DisplayName::parse(s).is_ok()
            }),
            ("RegisterRequest", "username", |s| {
                Username::parse(s).is_ok()
            }),
            ("RegisterRequest", "password", |s| {
                Password::parse(s).is_ok()
            }),
            ("SendMessageRequest", "client_msg_id", |s| {
                ClientMsgId::parse(s).is_ok()
            }),
        ];
        for (schema, field, accepts) in cases {
            let pattern = pattern(schema, field);
            for sample in &samples {
                assert_eq!(
                    pattern.is_match(sample),
                    accepts(sample),
                    "{schema}.{field} on {:.40?} ({} chars)",
                    sample,
                    sample.chars().count()
                );
            }
        }
    }

    /// The character classes the patterns in dto.rs are built of, checked over every
    /// character against `char::is_whitespace` (what `str::trim` removes) and
    /// `char::is_control` (what the domain refuses).
    #[test]
    fn the_pattern_classes_are_what_trim_and_the_control_rule_say() {
        type Rule = fn(char) -> bool;
        let classes: [(&str, Rule); 5] = [
            // Trimmable in names: whitespace that is not a control character.
            (
                r"[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
                |c| c.is_whitespace() && !c.is_control(),
            ),
            // Trimmable in content: the same, plus tab and line feed.
            (
                r"[\t\n \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
                |c| c.is_whitespace() && (!c.is_control() || matches!(c, '\t' | '\n')),
            ),
            // The first and last kept character: neither whitespace nor control.
            (
                r"[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
                |c| !c.is_whitespace() && !c.is_control(),
            ),
            // Anything but a control character (names, display names, passwords).
            (r"[^\u0000-\u001f\u007f-\u009f]", |c| !c.is_control()),
            // Content: anything but a control character other than tab and line feed.
            (r"[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]", |c| {
                !c.is_control() || matches!(c, '\t' | '\n')
            }),
        ];
        for (class, rule) in classes {
            let re = Regex::new(&format!("^{class}$")).unwrap();
            for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
                let mut buf = [0; 4];
                assert_eq!(
                    re.is_match(c.encode_utf8(&mut buf)),
                    rule(c),
                    "{class} on U+{:04X}",
                    c as u32
                );
            }
        }
    }
}
