import PLTrack
