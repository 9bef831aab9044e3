"""The mailing list: posting and its rights, moderation, membership, fan-out and list
copies, digests, bounces."""
