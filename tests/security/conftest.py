import sys


def pytest_terminal_summary(terminalreporter):
    """One line with what the form fuzzer ran: the figure docs/security.md quotes."""
    fuzz = sys.modules.get("tests.security.test_fuzz_forms")
    if fuzz is None or not fuzz.RAN:
        return
    ran = {test: count for test, (_, count) in fuzz.RAN.items()}
    fewest = min(ran, key=ran.get)
    terminalreporter.write_line(
        f"form fuzzing: {len(ran)} tests, {sum(ran.values()):,} examples, "
        f"fewest {ran[fewest]:,} ({fewest.split('::', 1)[1]})"
    )
