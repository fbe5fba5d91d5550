use instrument_once::instrument_once;

struct Repo;

#[instrument_once]
impl Repo {
    #[instrument_once(level = "trace")]
    #[instrument_once(level = "debug")]
    fn get(&self) {}
}

fn main() {
    Repo.get();
}
