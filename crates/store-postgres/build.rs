// `sqlx::migrate!()` embeds `migrations/` at compile time; on stable Rust it cannot tell cargo to
// watch that folder, so a new or edited migration would not rebuild the crate without this.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
