mod handlers {
    #[instrument_once::instrument_once]
    pub fn get_user() {}
}

use handlers::get_user;

fn main() {
    get_user();
    // Through a `use`: the qualified name cannot be read from the path.
    let _ = instrument_once::site!(get_user);
}
