"""The command-line tools: ecg-analyze, ecg-adapt, ecg-replay, ecg-demo, ecg-alerts, and the local broker and process supervision they use.

May import everything in the gateway, the service included; nothing in the gateway imports them.
"""
