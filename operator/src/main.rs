#![allow(clippy::print_stdout)]
fn main() {
    match ecs_operator::crd::to_yaml(&ecs_operator::crd::all()) {
        Ok(y) => print!("{y}"),
        Err(e) => eprintln!("{e}"),
    }
}
