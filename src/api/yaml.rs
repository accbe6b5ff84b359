//! YAML (and JSON) text to a tree that remembers where every node came from, so that
//! validation can say `file:line:col`.

use saphyr::{LoadableYamlNode, MarkedYamlOwned, ScalarOwned, YamlDataOwned};

/// A 1-based position in a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys in document order, each with its own position.
    Map(Vec<(Key, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub name: String,
    pub pos: Pos,
}

/// A document that could not be read as YAML.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

impl Node {
    /// The words a message uses for this node's type.
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Seq(_) => "list",
            Value::Map(_) => "mapping",
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Null and the empty string mean "unset", as users paste them from ECS tools.
    pub fn is_unset(&self) -> bool {
        matches!(&self.value, Value::Null) || matches!(&self.value, Value::Str(s) if s.is_empty())
    }
}

/// Every document of a YAML stream (JSON is read the same way).
pub fn parse_documents(text: &str) -> Result<Vec<Node>, SyntaxError> {
    let docs = MarkedYamlOwned::load_from_str(text).map_err(|e| SyntaxError {
        pos: Pos {
            line: e.marker().line(),
            col: e.marker().col() + 1,
        },
        message: e.info().to_string(),
    })?;
    docs.iter().map(convert).collect()
}

fn pos_of(node: &MarkedYamlOwned) -> Pos {
    Pos {
        line: node.span.start.line(),
        col: node.span.start.col() + 1,
    }
}

fn convert(node: &MarkedYamlOwned) -> Result<Node, SyntaxError> {
    let pos = pos_of(node);
    let value = match &node.data {
        YamlDataOwned::Value(scalar) => match scalar {
            ScalarOwned::Null => Value::Null,
            ScalarOwned::Boolean(b) => Value::Bool(*b),
            ScalarOwned::Integer(i) => Value::Int(*i),
            ScalarOwned::FloatingPoint(f) => Value::Float(f.into_inner()),
            ScalarOwned::String(s) => Value::Str(s.clone()),
        },
        YamlDataOwned::Representation(s, _, _) => Value::Str(s.clone()),
        YamlDataOwned::Sequence(items) => {
            Value::Seq(items.iter().map(convert).collect::<Result<_, _>>()?)
        }
        YamlDataOwned::Mapping(entries) => {
            let mut out = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let name = match &k.data {
                    YamlDataOwned::Value(ScalarOwned::String(s)) => s.clone(),
                    YamlDataOwned::Value(ScalarOwned::Integer(i)) => i.to_string(),
                    YamlDataOwned::Value(ScalarOwned::Boolean(b)) => b.to_string(),
                    _ => {
                        return Err(SyntaxError {
                            pos: pos_of(k),
                            message: "mapping keys must be plain strings".into(),
                        });
                    }
                };
                out.push((
                    Key {
                        name,
                        pos: pos_of(k),
                    },
                    convert(v)?,
                ));
            }
            Value::Map(out)
        }
        YamlDataOwned::Tagged(_, inner) => return convert(inner),
        YamlDataOwned::Alias(_) => {
            return Err(SyntaxError {
                pos,
                message: "YAML aliases (*name) are not supported: write the value out".into(),
            });
        }
        YamlDataOwned::BadValue => {
            return Err(SyntaxError {
                pos,
                message: "this value cannot be read".into(),
            });
        }
    };
    Ok(Node { value, pos })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_point_at_values() {
        let docs = parse_documents("a: 1\nb:\n  c: \"256\"\n---\nx: [1, 2]\n").unwrap();
        assert_eq!(docs.len(), 2);
        let c = docs[0].get("b").unwrap().get("c").unwrap();
        assert_eq!(c.value, Value::Str("256".into()));
        assert_eq!(c.pos, Pos { line: 3, col: 6 });
        assert!(matches!(docs[1].get("x").unwrap().value, Value::Seq(ref v) if v.len() == 2));
    }

    #[test]
    fn quoted_numbers_stay_strings_and_json_parses() {
        let docs = parse_documents("{\n\t\"cpu\": \"1024\",\n\t\"memory\": 512\n}").unwrap();
        assert_eq!(docs[0].get("cpu").unwrap().value, Value::Str("1024".into()));
        assert_eq!(docs[0].get("memory").unwrap().value, Value::Int(512));
        assert_eq!(docs[0].get("memory").unwrap().pos.line, 3);
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let err = parse_documents("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.pos.line >= 1, "{err:?}");
    }
}
