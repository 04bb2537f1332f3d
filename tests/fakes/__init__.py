"""Fake external systems for the tests: small real aiohttp servers with failure knobs."""
