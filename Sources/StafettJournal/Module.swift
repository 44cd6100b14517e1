// Placeholder until this module lands; see DESIGN.md for its room.
