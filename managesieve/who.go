package managesieve

import "github.com/storaged/storaged/internal/netserve"

// Sessions lists the connected clients, for the admin's who.
func (s *Server) Sessions() []netserve.SessionInfo { return s.sessions.List() }
