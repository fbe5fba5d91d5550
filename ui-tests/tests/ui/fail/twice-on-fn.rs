use instrument_once::instrument_once;

#[instrument_once]
#[instrument_once(level = "debug")]
fn load() {}

fn main() {
    load();
}
