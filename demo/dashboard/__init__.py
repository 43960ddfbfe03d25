"""The demo dashboard: one server-rendered page with inline SVG charts (no scripts, no CDN)."""
