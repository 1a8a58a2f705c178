"""The pure logic of every domain and the records it works on. Imports only core/; never Prefect,
the database or HTTP."""
