"""Web Push delivery (VAPID, payloads, outbox, worker). Knows nothing of backend domains."""
