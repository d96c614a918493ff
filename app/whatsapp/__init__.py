"""WhatsApp Business Platform (Cloud API) webhooks: leads' messages coming in."""
