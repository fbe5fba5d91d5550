use instrument_once::instrument_once;

#[derive(Debug)]
struct Repo;

#[instrument_once]
impl Repo {
    #[tracing::instrument]
    fn get(&self) {}
}

fn main() {
    Repo.get();
}
