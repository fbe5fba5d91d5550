#[instrument_once::instrument_once(stats = false, repeats_by(user_id))]
fn lookup(user_id: &str) -> usize {
    user_id.len()
}

fn main() {
    lookup("a");
}
