#[instrument_once::instrument_once(repeats_by(user))]
fn lookup(user_id: &str) -> usize {
    user_id.len()
}

fn main() {
    lookup("a");
}
