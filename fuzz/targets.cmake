# The libFuzzer targets, one file fuzz/<name>.cpp each (also replayed over their seeds by the unit tests).
set(GRACEDB_FUZZ_TARGETS fuzz_token_claims fuzz_token_file fuzz_topics fuzz_service_url fuzz_json_writer
    fuzz_base64 fuzz_supervisor_decode fuzz_standin_request)
