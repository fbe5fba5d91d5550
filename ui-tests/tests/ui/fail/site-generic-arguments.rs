mod handlers {
    #[instrument_once::instrument_once]
    pub fn parse<T: std::str::FromStr>(s: &str) -> Option<T> {
        s.parse().ok()
    }
}

fn main() {
    let _ = handlers::parse::<u8>("1");
    let _ = instrument_once::site!(crate::handlers::parse::<u8>);
}
