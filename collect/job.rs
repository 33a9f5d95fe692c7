//! One job of the manifest: the record with `job_id` and `parameters` first, as the seed wrote
//! them, then every other field in record order. Serialized straight from the record (through
//! a serde adapter that leaves the two fields out of the rest), not through a JSON tree: for
//! 100,000 records the trees took a fifth of the time.

use serde::ser::{self, Impossible, Serialize, SerializeMap, SerializeStruct, Serializer};
use sweep::record::Parameters;
use sweep::Record;

/// The job entry of `record`.
#[derive(serde::Serialize)]
pub struct Job<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    job_id: &'a Option<String>,
    parameters: &'a Parameters,
    #[serde(flatten)]
    rest: Rest<'a>,
    /// `--results`: the job's benchmark numbers, last.
    #[serde(skip_serializing_if = "Option::is_none")]
    results: Option<serde_json::Value>,
}

impl<'a> Job<'a> {
    /// The job entry of `record`, with its `results` when there are.
    pub fn of(record: &'a Record, results: Option<serde_json::Value>) -> Job<'a> {
        Job {
            job_id: &record.job_id,
            parameters: &record.parameters,
            rest: Rest(record),
            results,
        }
    }
}

/// A record as a line of JSON Lines, with its `results` last when there are.
#[derive(serde::Serialize)]
pub struct Line<'a> {
    #[serde(flatten)]
    record: &'a Record,
    #[serde(skip_serializing_if = "Option::is_none")]
    results: Option<serde_json::Value>,
}

impl<'a> Line<'a> {
    pub fn of(record: &'a Record, results: Option<serde_json::Value>) -> Line<'a> {
        Line { record, results }
    }
}

/// The fields written first, left out of the rest.
const FIRST: [&str; 2] = ["job_id", "parameters"];

/// The record without [`FIRST`], as map entries of the enclosing job.
struct Rest<'a>(&'a Record);

impl Serialize for Rest<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(Without(s))
    }
}

/// A serializer for a record (a map: its derive flattens the job state and unknown fields)
/// that passes every entry but [`FIRST`] on to `S`.
struct Without<S>(S);

/// The map of [`Without`]: `skip` while the key just seen is one of [`FIRST`].
struct WithoutMap<M> {
    inner: M,
    skip: bool,
}

fn not_a_map<E: ser::Error>() -> E {
    E::custom("a record serializes as a map")
}

/// Scalar methods of [`Without`]: a record is never one.
macro_rules! refuse {
    ($($f:ident($($t:ty),*)),* $(,)?) => {
        $(fn $f(self, $(_: $t),*) -> Result<S::Ok, S::Error> { Err(not_a_map()) })*
    };
}

impl<S: Serializer> Serializer for Without<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Impossible<S::Ok, S::Error>;
    type SerializeTuple = Impossible<S::Ok, S::Error>;
    type SerializeTupleStruct = Impossible<S::Ok, S::Error>;
    type SerializeTupleVariant = Impossible<S::Ok, S::Error>;
    type SerializeMap = WithoutMap<S::SerializeMap>;
    type SerializeStruct = WithoutMap<S::SerializeMap>;
    type SerializeStructVariant = Impossible<S::Ok, S::Error>;

    refuse!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );

    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<S::Ok, S::Error> {
        Err(not_a_map())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<S::Ok, S::Error> {
        Err(not_a_map())
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<S::Ok, S::Error> {
        Err(not_a_map())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        Err(not_a_map())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, S::Error> {
        Err(not_a_map())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        Err(not_a_map())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        Err(not_a_map())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        Ok(WithoutMap {
            inner: self.0.serialize_map(None)?,
            skip: false,
        })
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        Err(not_a_map())
    }
}

impl<M: SerializeMap> SerializeMap for WithoutMap<M> {
    type Ok = M::Ok;
    type Error = M::Error;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), M::Error> {
        self.skip = key.serialize(IsFirst).unwrap_or(false);
        if self.skip {
            return Ok(());
        }
        self.inner.serialize_key(key)
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), M::Error> {
        if self.skip {
            return Ok(());
        }
        self.inner.serialize_value(value)
    }
    fn end(self) -> Result<M::Ok, M::Error> {
        self.inner.end()
    }
}

impl<M: SerializeMap> SerializeStruct for WithoutMap<M> {
    type Ok = M::Ok;
    type Error = M::Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), M::Error> {
        if FIRST.contains(&key) {
            return Ok(());
        }
        self.inner.serialize_entry(key, value)
    }
    fn end(self) -> Result<M::Ok, M::Error> {
        self.inner.end()
    }
}

/// Tells whether a map key is one of [`FIRST`] (keys are strings; anything else is not).
struct IsFirst;

macro_rules! not_first {
    ($($f:ident($($t:ty),*)),* $(,)?) => {
        $(fn $f(self, $(_: $t),*) -> Result<bool, serde_json::Error> { Ok(false) })*
    };
}

impl Serializer for IsFirst {
    type Ok = bool;
    type Error = serde_json::Error;
    type SerializeSeq = Impossible<bool, serde_json::Error>;
    type SerializeTuple = Impossible<bool, serde_json::Error>;
    type SerializeTupleStruct = Impossible<bool, serde_json::Error>;
    type SerializeTupleVariant = Impossible<bool, serde_json::Error>;
    type SerializeMap = Impossible<bool, serde_json::Error>;
    type SerializeStruct = Impossible<bool, serde_json::Error>;
    type SerializeStructVariant = Impossible<bool, serde_json::Error>;

    fn serialize_str(self, v: &str) -> Result<bool, serde_json::Error> {
        Ok(FIRST.contains(&v))
    }
    not_first!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<bool, serde_json::Error> {
        Ok(false)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<bool, serde_json::Error> {
        Ok(false)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<bool, serde_json::Error> {
        Ok(false)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, serde_json::Error> {
        Err(ser::Error::custom("not a key"))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, serde_json::Error> {
        Err(ser::Error::custom("not a key"))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, serde_json::Error> {
        Err(ser::Error::custom("not a key"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, serde_json::Error> {
        Err(ser::Error::custom("not a key"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, serde_json::Error> {
        Err(ser::Error::custom("not a key"))
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, serde_json::Error> {
        Err(ser::Error::custom("not a key"))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, serde_json::Error> {
        Err(ser::Error::custom("not a key"))
    }
}
