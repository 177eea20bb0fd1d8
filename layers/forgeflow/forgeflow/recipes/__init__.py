"""Nova training recipes: typed models, documented bounds, dataset limits, cost estimates."""
