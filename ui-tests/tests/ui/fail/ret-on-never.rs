#[instrument_once::instrument_once(ret)]
fn serve_forever() -> ! {
    loop {
        std::thread::park();
    }
}

fn main() {}
