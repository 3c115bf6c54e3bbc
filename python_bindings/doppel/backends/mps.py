"""doppel.backends.mps: Apple's Metal backend, which doppel does not have."""


def is_available():
    return False
