"""Generation jobs: durable work that holds credits after the call that started it has returned.

`engine.py` creates, steps, waits for and cancels jobs; `settle.py` is their one final
transaction; `store.py` the `jobs` table; `worker.py` the loop every replica runs; `delivery.py`
copies outputs into storage; `images.py` prices image requests.
"""
