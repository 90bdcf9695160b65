"""Local fake providers (Twilio, generic JSON APIs) on 127.0.0.1, shared by the tests and the
benchmarks. Product code never imports this package."""
