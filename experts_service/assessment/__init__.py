"""The annual assessment (年度考核): cycles, self-assessments, scores, approval."""
