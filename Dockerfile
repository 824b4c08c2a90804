FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 WEDSYNC_VAR_DIR=/app/var
WORKDIR /app
COPY requirements.txt ./
COPY graph_emulator/requirements.txt graph_emulator/requirements.txt
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DJANGO_SECRET_KEY=build TOKEN_ENCRYPTION_KEYS=$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())') \
    python manage.py collectstatic --noinput -v 0
EXPOSE 8000
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wedsync.wsgi", "--bind", "0.0.0.0:8000"]
