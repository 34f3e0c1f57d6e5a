"""``ecg-web``, the caregivers' console: an aiohttp server that talks to the broker as a caregiver would.

An adapter beside ``service``: it may import ``gateway.service`` (the topic
layout, the configuration loader) and the tools it runs as subprocesses;
nothing in the gateway imports it, and the gateway's runtime set does not
need aiohttp (the ``web`` pip extra).
"""
