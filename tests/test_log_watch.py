"""The suite's log watch finds a token however it is logged, and shows where without repeating it."""

from __future__ import annotations

import logging

from appban.access import new_token

from .log_watch import TokenWatch


def test_a_token_in_a_message_or_its_arguments_is_caught_and_masked() -> None:
    watch = TokenWatch()
    logger = logging.getLogger("log-watch-test")  # not appban's: the suite's own watch must not see this
    logger.propagate = False
    logger.addHandler(watch)
    token = new_token()
    try:
        logger.warning("request with header %s", f"Bearer {token}")
        logger.warning("nothing secret here: tok_52b8831525496552")
    finally:
        logger.removeHandler(watch)
    assert len(watch.leaks) == 1
    assert token not in watch.leaks[0] and "apb_…" in watch.leaks[0] and "log-watch-test" in watch.leaks[0]
