"""The learner's dashboard: server-rendered pages under `/me`, in French and English."""
