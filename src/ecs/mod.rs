//! The only door to ECS: the `Ecs` trait, its `aws-sdk-ecs` implementation, and the API
//! budget every call goes through.

#[rustfmt::skip]
mod convert;
mod convert_support;
