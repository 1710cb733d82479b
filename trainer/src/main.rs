//! The groco trainer binary.

fn main() {
    println!(
        "groco trainer: not implemented yet. This workspace currently holds groco-core \
         (differentiable sorting networks) and its tests; see README.md."
    );
}
