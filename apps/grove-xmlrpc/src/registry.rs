//! [`Registry`]: the methods a server offers, by name — plain Rust
//! functions registered directly — and the `system.*` methods of Python's
//! `SimpleXMLRPCServer` (`listMethods`, `methodHelp`, `methodSignature`,
//! `multicall`) on top of them.
//!
//! A function of up to eight arguments whose argument types are
//! [`FromValue`] and whose result is [`IntoReturn`] is a [`Method`]: the
//! registry checks the number of arguments, converts each (a mismatch is an
//! `INVALID_PARAMS` fault naming the argument), calls it and converts the
//! result. A method that panics becomes an `APPLICATION_ERROR` fault, as an
//! exception does in Python — except grove's own cancellation (a kill or a
//! `with_timeout` of the greenlet), which keeps unwinding.
//!
//! ```
//! use grove_xmlrpc::{Registry, Value};
//!
//! fn add(a: i64, b: i64) -> i64 {
//!     a + b
//! }
//!
//! let mut registry = Registry::new();
//! registry.register("add", add);
//! registry.register_doc("gen", "A string of n zeros.", |n: usize| "0".repeat(n));
//! assert_eq!(
//!     registry.dispatch("add", vec![Value::Integer(3), Value::Integer(5)]),
//!     Ok(Value::Integer(8))
//! );
//! assert_eq!(registry.dispatch("add", vec![]).unwrap_err().code(), grove_xmlrpc::fault::INVALID_PARAMS);
//! ```

use std::collections::HashMap;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};

use dxr::{Fault, Value};

use crate::convert::{self, FromValue, IntoReturn};
use crate::fault;

/// A function the registry can call with a request's arguments.
///
/// Implemented for every `Fn(A, B, …) -> R` of up to eight
/// arguments with `A, B, …: FromValue` and `R: IntoReturn`; `Args` is the
/// tuple of argument types (it only tells the implementations apart).
pub trait Method<Args> {
    /// Calls the function with `params`, converted; `name` is for messages.
    fn invoke(&self, name: &str, params: Vec<Value>) -> Result<Value, Fault>;

    /// The result type followed by the argument types, as XML-RPC names.
    fn signature() -> Vec<&'static str>;
}

fn arity(name: &str, expected: usize, given: usize) -> Fault {
    let s = if expected == 1 { "" } else { "s" };
    fault::new(
        fault::INVALID_PARAMS,
        format!("{name}() takes {expected} argument{s} ({given} given)"),
    )
}

fn arg<T: FromValue>(name: &str, index: usize, value: Value) -> Result<T, Fault> {
    T::from_value(value).map_err(|e| {
        fault::new(
            fault::INVALID_PARAMS,
            format!("{name}(): argument {}: {e}", index + 1),
        )
    })
}

macro_rules! method {
    ($n:literal $(; $ty:ident $var:ident $idx:literal)*) => {
        impl<F, R, $($ty),*> Method<($($ty,)*)> for F
        where
            F: Fn($($ty),*) -> R,
            R: IntoReturn,
            $($ty: FromValue,)*
        {
            fn invoke(&self, name: &str, params: Vec<Value>) -> Result<Value, Fault> {
                let given = params.len();
                let Ok([$($var),*]) = <[Value; $n]>::try_from(params) else {
                    return Err(arity(name, $n, given));
                };
                $(let $var = arg::<$ty>(name, $idx, $var)?;)*
                self($($var),*).into_return()
            }

            fn signature() -> Vec<&'static str> {
                vec![R::TYPE $(, $ty::TYPE)*]
            }
        }
    };
}

method!(0);
method!(1; A a 0);
method!(2; A a 0; B b 1);
method!(3; A a 0; B b 1; C c 2);
method!(4; A a 0; B b 1; C c 2; D d 3);
method!(5; A a 0; B b 1; C c 2; D d 3; E e 4);
method!(6; A a 0; B b 1; C c 2; D d 3; E e 4; G g 5);
method!(7; A a 0; B b 1; C c 2; D d 3; E e 4; G g 5; H h 6);
method!(8; A a 0; B b 1; C c 2; D d 3; E e 4; G g 5; H h 6; I i 7);

type Call = Box<dyn Fn(&str, Vec<Value>) -> Result<Value, Fault>>;

struct Entry {
    call: Call,
    help: String,
    signature: Vec<&'static str>,
}

/// The methods a server offers, by name.
///
/// Not `Send`: a method may hold `Rc`s and `RefCell`s, as greenlet code
/// does. Servers that run on several threads take a function that builds
/// one registry per thread (see [`serve`](crate::server)).
#[derive(Default)]
pub struct Registry {
    methods: HashMap<String, Entry>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("methods", &self.method_names())
            .finish()
    }
}

const SYSTEM: [(&str, &str, &[&str]); 4] = [
    (
        "system.listMethods",
        "Returns the names of the methods this server offers.",
        &["array"],
    ),
    (
        "system.methodHelp",
        "Returns the help text of the named method.",
        &["string", "string"],
    ),
    (
        "system.methodSignature",
        "Returns the signatures of the named method: [[result type, argument types…]].",
        &["array", "string"],
    ),
    (
        "system.multicall",
        "Calls each {methodName, params} of an array; returns [result] or a fault struct per call.",
        &["array", "array"],
    ),
];

impl Registry {
    /// A registry with only the `system.*` methods.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Offers `method` as `name` (replacing a method of that name), with no
    /// help text.
    pub fn register<Args, M: Method<Args> + 'static>(
        &mut self,
        name: &str,
        method: M,
    ) -> &mut Registry {
        self.register_doc(name, "", method)
    }

    /// Offers `method` as `name` with the text `system.methodHelp` returns.
    pub fn register_doc<Args, M: Method<Args> + 'static>(
        &mut self,
        name: &str,
        help: &str,
        method: M,
    ) -> &mut Registry {
        let entry = Entry {
            call: Box::new(move |name, params| method.invoke(name, params)),
            help: help.to_owned(),
            signature: M::signature(),
        };
        self.methods.insert(name.to_owned(), entry);
        self
    }

    /// Every method name, `system.*` included, sorted.
    pub fn method_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.methods.keys().cloned().collect();
        names.extend(SYSTEM.iter().map(|(name, ..)| name.to_string()));
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Calls the method `name` with `params`: its result, or the fault to
    /// send back.
    pub fn dispatch(&self, name: &str, params: Vec<Value>) -> Result<Value, Fault> {
        if let Some(entry) = self.methods.get(name) {
            return guarded(name, || (entry.call)(name, params));
        }
        match name {
            "system.listMethods" => (|| self.list_methods()).invoke(name, params),
            "system.methodHelp" => (|method: String| self.help(&method)).invoke(name, params),
            "system.methodSignature" => {
                (|method: String| self.signature(&method)).invoke(name, params)
            }
            "system.multicall" => (|calls: Vec<Value>| self.multicall(calls)).invoke(name, params),
            _ => Err(fault::new(
                fault::METHOD_NOT_FOUND,
                format!("method \"{name}\" is not supported"),
            )),
        }
    }

    fn list_methods(&self) -> Value {
        Value::Array(self.method_names().into_iter().map(Value::String).collect())
    }

    fn help(&self, method: &str) -> String {
        match self.methods.get(method) {
            Some(entry) => entry.help.clone(),
            None => SYSTEM
                .iter()
                .find(|(name, ..)| *name == method)
                .map_or_else(String::new, |(_, help, _)| help.to_string()),
        }
    }

    fn signature(&self, method: &str) -> Result<Value, Fault> {
        let types: &[&str] = match self.methods.get(method) {
            Some(entry) => &entry.signature,
            None => match SYSTEM.iter().find(|(name, ..)| *name == method) {
                Some((_, _, types)) => types,
                None => {
                    return Err(fault::new(
                        fault::METHOD_NOT_FOUND,
                        format!("method \"{method}\" is not supported"),
                    ))
                }
            },
        };
        let one = types.iter().map(|t| Value::String(t.to_string())).collect();
        Ok(Value::Array(vec![Value::Array(one)]))
    }

    /// `system.multicall`: each call's fault stays in its own entry.
    fn multicall(&self, calls: Vec<Value>) -> Value {
        let results = calls
            .into_iter()
            .map(|call| {
                let (name, params) = multicall_entry(call)?;
                if name == "system.multicall" {
                    return Err(fault::new(
                        fault::INVALID_XMLRPC,
                        "system.multicall may not call system.multicall",
                    ));
                }
                self.dispatch(&name, params)
            })
            .collect();
        dxr::multicall::into_multicall_response(results)
    }
}

/// One `{methodName, params}` entry of a multicall.
fn multicall_entry(call: Value) -> Result<(String, Vec<Value>), Fault> {
    let invalid =
        |what: String| fault::new(fault::INVALID_PARAMS, format!("system.multicall: {what}"));
    let Value::Struct(mut members) = call else {
        return Err(invalid(format!(
            "each call must be a struct, got {}",
            convert::type_name(&call)
        )));
    };
    let name = match members.remove("methodName") {
        Some(Value::String(name)) => name,
        _ => return Err(invalid("a call needs a string methodName".into())),
    };
    match members.remove("params") {
        Some(Value::Array(params)) => Ok((name, params)),
        None => Ok((name, Vec::new())),
        Some(other) => Err(invalid(format!(
            "params of {name} must be an array, got {}",
            convert::type_name(&other)
        ))),
    }
}

/// Runs a registered method, turning its panic into a fault (grove's
/// cancellation goes on unwinding: it is not the method's failure).
fn guarded(name: &str, call: impl FnOnce() -> Result<Value, Fault>) -> Result<Value, Fault> {
    match panic::catch_unwind(AssertUnwindSafe(call)) {
        Ok(result) => result,
        Err(payload) if grove::is_cancellation(&payload) => panic::resume_unwind(payload),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string panic payload".into());
            Err(fault::new(
                fault::APPLICATION_ERROR,
                format!("{name}() failed: {message}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Registry {
        let mut r = Registry::new();
        r.register("add", |a: i64, b: i64| a + b);
        r.register_doc("gen", "zeros", |n: usize| "0".repeat(n));
        r.register("boom", || -> i64 { panic!("kaput") });
        r
    }

    #[test]
    fn calls_convert_arguments_and_results() {
        let r = demo();
        let three = vec![Value::Integer(1), Value::Integer(2), Value::Integer(3)];
        assert_eq!(
            r.dispatch("add", three).unwrap_err().string(),
            "add() takes 2 arguments (3 given)"
        );
        let bad = r.dispatch("gen", vec![Value::Integer(-1)]).unwrap_err();
        assert_eq!(bad.code(), fault::INVALID_PARAMS);
        assert_eq!(
            bad.string(),
            "gen(): argument 1: -1 is out of range for usize"
        );
        assert_eq!(
            r.dispatch("gen", vec![Value::Integer(3)]),
            Ok(Value::String("000".into()))
        );
        assert_eq!(
            r.dispatch("nope", vec![]).unwrap_err().code(),
            fault::METHOD_NOT_FOUND
        );
    }

    #[test]
    fn a_panic_is_an_application_fault() {
        let f = demo().dispatch("boom", vec![]).unwrap_err();
        assert_eq!(f.code(), fault::APPLICATION_ERROR);
        assert_eq!(f.string(), "boom() failed: kaput");
    }

    #[test]
    fn introspection() {
        let r = demo();
        let names = r.dispatch("system.listMethods", vec![]).unwrap();
        let Value::Array(names) = names else { panic!() };
        assert_eq!(names.len(), 7);
        assert_eq!(names[0], Value::String("add".into()));
        assert_eq!(
            r.dispatch("system.methodHelp", vec![Value::String("gen".into())]),
            Ok(Value::String("zeros".into()))
        );
        let sig = r.dispatch("system.methodSignature", vec![Value::String("add".into())]);
        let s = |t: &str| Value::String(t.into());
        assert_eq!(
            sig,
            Ok(Value::Array(vec![Value::Array(vec![
                s("int"),
                s("int"),
                s("int")
            ])]))
        );
    }

    #[test]
    fn multicall_faults_stay_per_entry() {
        let r = demo();
        let call = |name: &str, params: Vec<Value>| {
            Value::Struct(
                [
                    ("methodName".to_owned(), Value::String(name.into())),
                    ("params".to_owned(), Value::Array(params)),
                ]
                .into(),
            )
        };
        let calls = Value::Array(vec![
            call("add", vec![Value::Integer(1), Value::Integer(2)]),
            call("nope", vec![]),
            Value::Integer(3),
            call("system.multicall", vec![Value::Array(vec![])]),
        ]);
        let Ok(Value::Array(out)) = r.dispatch("system.multicall", vec![calls]) else {
            panic!()
        };
        assert_eq!(out[0], Value::Array(vec![Value::Integer(3)]));
        let code = |v: &Value| match v {
            Value::Struct(m) => m["faultCode"].clone(),
            _ => panic!("{v:?}"),
        };
        assert_eq!(code(&out[1]), Value::Integer(fault::METHOD_NOT_FOUND));
        assert_eq!(code(&out[2]), Value::Integer(fault::INVALID_PARAMS));
        assert_eq!(code(&out[3]), Value::Integer(fault::INVALID_XMLRPC));
    }
}
