//! A serde `Deserializer` that feeds a type one plausible value of everything and records
//! every struct field it is asked for: the schema's keys, read from the types themselves
//! rather than from a list someone must remember to update.
//!
//! It descends into each field, into `Some`, into one element of each array and into one
//! entry (named `NAME`) of each map. Strings are chosen by what the visitor expects, so a
//! duration gets `"1s"`, a size `"1MiB"` and a socket address `"127.0.0.1:8080"`.

use std::cell::RefCell;

use serde::de::value::{Error, StrDeserializer};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Expected, IntoDeserializer, MapAccess, SeqAccess,
    Visitor,
};

/// One key of the schema: the table it belongs to, written as its TOML header
/// (`[functions.NAME.scaling]`, or `[[functions.NAME.routes]]` for an array's elements), and
/// the key's name. Keys of the document root have an empty table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    /// The table's TOML header, like `[server.tls]`; empty at the document root.
    pub table: String,
    /// The key's name within its table.
    pub name: String,
}

/// Every key `T` reads, in declaration order.
pub fn keys_of<T: DeserializeOwned>() -> Vec<Key> {
    let found = RefCell::new(Vec::new());
    let tracer = Tracer {
        path: Vec::new(),
        found: &found,
    };
    if let Err(error) = T::deserialize(tracer) {
        panic!("the tracer must be able to build every schema type: {error}");
    }
    found.into_inner()
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Element,
}

struct Tracer<'a> {
    path: Vec<Step>,
    found: &'a RefCell<Vec<Key>>,
}

impl<'a> Tracer<'a> {
    fn child(&self, step: Step) -> Tracer<'a> {
        let mut path = self.path.clone();
        path.push(step);
        Tracer {
            path,
            found: self.found,
        }
    }

    /// The TOML header of the table this tracer stands for.
    fn header(&self) -> String {
        let keys: Vec<&str> = self
            .path
            .iter()
            .filter_map(|step| match step {
                Step::Key(key) => Some(key.as_str()),
                Step::Element => None,
            })
            .collect();
        match self.path.last() {
            None => String::new(),
            Some(Step::Element) => format!("[[{}]]", keys.join(".")),
            Some(Step::Key(_)) => format!("[{}]", keys.join(".")),
        }
    }

    /// A string the visitor accepts, picked by what it says it expects.
    fn text<'de, V: Visitor<'de>>(visitor: V) -> Result<V::Value, Error> {
        let expected = (&visitor as &dyn Expected).to_string();
        let text = if expected.contains("duration") {
            "1s"
        } else if expected.contains("size") {
            "1MiB"
        } else if expected.contains("socket address") {
            "127.0.0.1:8080"
        } else {
            "x"
        };
        visitor.visit_str(text)
    }
}

/// Deserializer methods that answer with one fixed value.
macro_rules! leaves {
    ($($method:ident => $visit:ident($($value:expr)?)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            visitor.$visit($($value)?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Tracer<'_> {
    type Error = Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let table = self.header();
        self.found
            .borrow_mut()
            .extend(fields.iter().map(|field| Key {
                table: table.clone(),
                name: (*field).to_owned(),
            }));
        visitor.visit_map(Fields {
            tracer: self,
            fields,
            next: 0,
        })
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(OneElement {
            tracer: Some(self.child(Step::Element)),
        })
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(OneEntry {
            tracer: Some(self.child(Step::Key("NAME".to_owned()))),
        })
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    // Every number is 1 and every bool false: valid for each key the schema has.
    leaves! {
        deserialize_bool => visit_bool(false),
        deserialize_i8 => visit_i64(1),
        deserialize_i16 => visit_i64(1),
        deserialize_i32 => visit_i64(1),
        deserialize_i64 => visit_i64(1),
        deserialize_u8 => visit_u64(1),
        deserialize_u16 => visit_u64(1),
        deserialize_u32 => visit_u64(1),
        deserialize_u64 => visit_u64(1),
        deserialize_f32 => visit_f64(1.0),
        deserialize_f64 => visit_f64(1.0),
        deserialize_unit => visit_unit()
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        Self::text(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        Self::text(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        Self::text(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        _variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Error> {
        Err(de::Error::custom(format!(
            "enum {name}: teach the tracer to pick a variant"
        )))
    }

    // Types the schema does not use; reaching one fails with the visitor's expectation.
    serde::forward_to_deserialize_any! {
        char bytes byte_buf unit_struct tuple tuple_struct identifier ignored_any
    }
}

/// A struct's fields, each offered once with a tracer for its value.
struct Fields<'a> {
    tracer: Tracer<'a>,
    fields: &'static [&'static str],
    next: usize,
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(field) = self.fields.get(self.next) else {
            return Ok(None);
        };
        let key: StrDeserializer<'_, Error> = field.into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let field = self.fields[self.next];
        self.next += 1;
        seed.deserialize(self.tracer.child(Step::Key(field.to_owned())))
    }
}

/// An array of one element.
struct OneElement<'a> {
    tracer: Option<Tracer<'a>>,
}

impl<'de> SeqAccess<'de> for OneElement<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.tracer
            .take()
            .map(|tracer| seed.deserialize(tracer))
            .transpose()
    }
}

/// A map of one entry, keyed `NAME`.
struct OneEntry<'a> {
    tracer: Option<Tracer<'a>>,
}

impl<'de> MapAccess<'de> for OneEntry<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if self.tracer.is_none() {
            return Ok(None);
        }
        let key: StrDeserializer<'_, Error> = "NAME".into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let tracer = self
            .tracer
            .take()
            .expect("serde asks for a value only after its key");
        seed.deserialize(tracer)
    }
}
