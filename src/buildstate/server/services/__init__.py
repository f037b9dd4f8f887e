"""Work that runs beside the API: started by the server's lifespan, or on its own."""
