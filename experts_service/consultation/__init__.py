"""Invitations, attendance, signed opinions, adoption feedback and ratings around each panel."""
