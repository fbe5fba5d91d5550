macro_rules! serve {
    ($t:ty) => {
        #[instrument_once::instrument_once(ret)]
        fn serve_forever() -> $t {
            loop {
                std::thread::park();
            }
        }
    };
}

serve!(!);

fn main() {}
