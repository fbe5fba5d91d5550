mod handlers {
    #[instrument_once::instrument_once]
    pub fn get_user() {}
}

fn main() {
    handlers::get_user();
    // A typo is a compile error, not a run-time `None`.
    let _ = instrument_once::site!(crate::handlers::get_usr);
}
