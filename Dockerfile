# Builds and runs the webhook example in serve mode (used by docker-compose.yml).
FROM maven:3.9-eclipse-temurin-17 AS build
WORKDIR /src
COPY . .
RUN mvn -B -ntp -DskipTests -pl webhook-ingest-example -am install \
 && mvn -B -ntp -q -pl webhook-ingest-example dependency:copy-dependencies \
      -DoutputDirectory=/app/lib -DincludeScope=runtime \
 && cp webhook-ingest-example/target/idem-webhook-ingest-example-*.jar /app/lib/

FROM eclipse-temurin:17-jre
WORKDIR /app
COPY --from=build /app/lib /app/lib
COPY config /app/config
EXPOSE 8080
ENTRYPOINT ["java", "-cp", "/app/lib/*", "dev.idem.example.webhook.Main", "serve"]
