"""warehouse-sql: the SQL this project runs in the warehouse after a load (README.md)."""
