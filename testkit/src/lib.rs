//! Stateful fakes of Acumatica and Looker (work in progress).

pub mod seed;
