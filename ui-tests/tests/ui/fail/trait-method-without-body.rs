trait Store {
    #[instrument_once::instrument_once]
    fn get(&self, key: u32) -> u32;
}

fn main() {}
