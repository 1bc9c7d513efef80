"""Service cases, routing, knowledge base and customer notifications (outbox + dispatcher)."""
