//! Stateful fakes of Acumatica and Looker (work in progress).

pub mod acumatica;
pub mod faults;
pub mod inspect;
pub mod looker;
pub mod seed;
pub mod server;
